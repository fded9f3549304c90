"""musicvideo.batch"""
