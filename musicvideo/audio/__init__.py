"""musicvideo.audio"""
