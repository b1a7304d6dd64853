"""Dimension names shared by arrays, NumPyro plates and ArviZ traces.

Every array is laid out ``(geo, time, channel)`` (controls: ``(geo, time, control)``).
National data is one geo, so code never branches on the number of dimensions.
"""

GEO = "geo"
TIME = "time"
CHANNEL = "channel"
CONTROL = "control"
CHAIN = "chain"
DRAW = "draw"
FOURIER = "fourier_mode"
KNOT = "trend_knot"
LIFT_TEST = "lift_test"
PAIR = "synergy_pair"      # interacting channel pairs (model.synergy), coords "a:b"
TREATMENT = "treatment"    # non-media treatments (data.treatments): price, promotions, events
GEO_TREATMENT = "geo_treatment"   # the treatments with per-geo coefficients
