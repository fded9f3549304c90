"""musicvideo.generator.formats"""
