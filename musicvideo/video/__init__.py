"""musicvideo.video"""
