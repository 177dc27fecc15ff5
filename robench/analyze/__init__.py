"""Analyses of the seed papers, on any model or checkpoint and over the leaderboard, each written as JSON + PNG:

    from robench import analyze
    analyze.landscape("advrush_small", out="runs/analyze/advrush_small")    # AdvRush's input loss landscape
    analyze.curvature("advrush_small", out=...)   # top eigenvalues of the input and weight Hessians
    analyze.fsp("robnet_free_small", out=...)     # RobNet's FSP distance per cell, clean vs adversarial
    analyze.density("leaderboard/records")        # RobNet's architecture density against robustness
    analyze.tradeoff("leaderboard/records")       # clean / robust accuracy and HRS against parameters (seed 003)
"""

from robench.analyze.curvature import curvature
from robench.analyze.density import density
from robench.analyze.fsp import fsp
from robench.analyze.landscape import landscape
from robench.analyze.results import AnalysisResult
from robench.analyze.tradeoff import tradeoff

__all__ = ["AnalysisResult", "curvature", "density", "fsp", "landscape", "tradeoff"]
