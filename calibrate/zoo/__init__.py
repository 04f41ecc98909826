"""Model zoo: the EfficientNet vision tower, the micro tokenizer and the random-weight micro model.

Importing this package is cheap; import `calibrate.zoo.vision_tower` to register the vision tower with
transformers' auto classes before loading a model that uses it.
"""
