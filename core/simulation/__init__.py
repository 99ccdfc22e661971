"""Building blocks of the sky simulator; the public entry is
:mod:`fluxion.core.simulation.simulate`."""
