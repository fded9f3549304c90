"""musicvideo.motion"""
