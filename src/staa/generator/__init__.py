"""STAA-Net generator: Wave-U-Net backbone and the factorised sparse-perturbation head."""
from staa.generator.staa_net import GeneratorOutput, STAANet
from staa.generator.waveunet import WaveUNet

__all__ = ["GeneratorOutput", "STAANet", "WaveUNet"]
