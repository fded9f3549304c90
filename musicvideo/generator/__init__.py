"""musicvideo.generator"""
