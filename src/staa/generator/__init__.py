"""STAA-Net generator: Wave-U-Net backbone and the factorised sparse-perturbation head."""

from staa.generator.checkpoint import build_generator, load_generator, save_generator
from staa.generator.staa_net import GeneratorOutput, STAANet
from staa.generator.waveunet import WaveUNet

__all__ = ["GeneratorOutput", "STAANet", "WaveUNet", "build_generator", "load_generator", "save_generator"]
