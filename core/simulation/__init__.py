"""Building blocks of the sky simulator; the public entry is :mod:`fluxion.core.simulate`."""
