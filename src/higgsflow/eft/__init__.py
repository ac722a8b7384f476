"""SMEFT simulation-based inference.

Quadratic event weights (`weights`), the analytic ZH model (`zh`), Boosted Information Trees (`bit`).
"""
