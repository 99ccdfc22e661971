"""Gaia DR3 from the ESA Gaia archive, through astroquery.gaia (TAP + ADQL)."""

from __future__ import annotations

import functools
import http.client
import logging
from typing import Any
from urllib.parse import urlsplit

from astropy.table import Table

from ..runtime.network import SERVICE_TIMEOUT_S, NetworkFailure, network_failure
from .base import CatalogError, CatalogSource, Cone, select_cone, standard_table

__all__ = ["GaiaArchiveCatalog"]

log = logging.getLogger(__name__)

_COLUMNS = (
    "source_id, ra, dec, ra_error, dec_error, pmra, pmdec, ref_epoch, phot_g_mean_mag, "
    "phot_bp_mean_mag, phot_rp_mean_mag, phot_g_mean_flux_over_error, "
    "phot_bp_mean_flux_over_error, phot_rp_mean_flux_over_error"
)


@functools.cache
def _timeout_handler() -> Any:
    """astroquery's TAP connection handler with a time-out (the class, made once).

    astroquery is imported here, on the first query, not with the catalogs:
    a night solved on a local catalog never pays for it (a third of a second).
    """
    from astroquery.utils.tap.conn.tapconn import ConnectionHandler

    class _TimeoutConnectionHandler(ConnectionHandler):
        """astroquery's TAP connections with a time-out, closed when the query is done.

        TapPlus opens bare ``http.client`` connections without a time-out (a silent
        server would hang the query forever) and never closes them; this handler
        adds the time-out and keeps the connections so :meth:`close` can.
        """

        def __init__(self, host: str, port: int, sslport: int, timeout: float) -> None:
            super().__init__(host, port, sslport)
            self._host, self._port, self._sslport, self._timeout = host, port, sslport, timeout
            self._opened: list[http.client.HTTPConnection] = []

        def get_connection(self, *, ishttps=False, cookie=None, verbose=False):
            if ishttps or cookie is not None:
                return self.get_connection_secure(verbose)
            conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
            self._opened.append(conn)
            return conn

        def get_connection_secure(self, verbose):
            conn = http.client.HTTPSConnection(self._host, self._sslport, timeout=self._timeout)
            self._opened.append(conn)
            return conn

        def close(self) -> None:
            for conn in self._opened:
                conn.close()
            self._opened.clear()

    return _TimeoutConnectionHandler


def _mag_error(flux_over_error):
    """Gaia gives flux/error; the magnitude error is 2.5/ln(10) times its inverse."""
    import numpy as np

    # Here, not at the top: importing the photometry package would slow every catalog import.
    from ..photometry.noise import MAG_PER_LN

    snr = np.asarray(flux_over_error, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return MAG_PER_LN / snr


class GaiaArchiveCatalog(CatalogSource):
    """Gaia DR3 ``gaia_source`` cone search on the ESA archive.

    Parameters
    ----------
    tap_server : str
        Archive base URL (``https://gea.esac.esa.int/``); tests point it at a
        local replay server.
    timeout : float
        Seconds before a silent connection is given up.
    row_limit : int
        Most rows fetched (brightest first).
    """

    name = "Gaia DR3 (archive)"
    online = True

    def __init__(
        self,
        tap_server: str = "https://gea.esac.esa.int/",
        *,
        timeout: float = SERVICE_TIMEOUT_S,
        row_limit: int = 20000,
    ) -> None:
        self.tap_server = tap_server
        self.timeout = float(timeout)
        self.row_limit = int(row_limit)

    def _client(self, handler: Any) -> Any:
        from astroquery.utils.tap.conn.tapconn import TapConn
        from astroquery.utils.tap.core import TapPlus

        # astroquery.gaia's module-level ``Gaia = GaiaClass()`` contacts the ESA
        # archive when imported, which an offline program (and every test) must not
        # do; GaiaClass is TapPlus with Gaia defaults, so TapPlus is used directly.
        parts = urlsplit(self.tap_server)
        secure = parts.scheme == "https"
        host = parts.hostname or "localhost"
        port = parts.port or (443 if secure else 80)
        base = parts.path.rstrip("/")
        conn = TapConn(
            ishttps=secure,
            host=host,
            server_context=f"{base}/tap-server",
            tap_context="tap",
            upload_context="Upload",
            table_edit_context="TableTool",
            data_context="data",
            datalink_context="datalink",
            port=port,
            sslport=port,
            connhandler=handler,
        )
        return TapPlus(url=self.tap_server, connhandler=conn)

    def adql(self, cone: Cone) -> str:
        """The ADQL query sent for ``cone``, brightest stars first."""
        where = (
            f"1 = CONTAINS(POINT('ICRS', ra, dec), "
            f"CIRCLE('ICRS', {cone.ra:.8f}, {cone.dec:.8f}, {cone.radius:.8f}))"
        )
        if cone.mag_limit is not None:
            where += f" AND phot_g_mean_mag < {cone.mag_limit:g}"
        return (
            f"SELECT TOP {self.row_limit} {_COLUMNS} FROM gaiadr3.gaia_source "
            f"WHERE {where} ORDER BY phot_g_mean_mag"
        )

    def query(self, cone: Cone) -> Table:
        """Stars in ``cone`` from the Gaia archive, in the catalog schema."""
        parts = urlsplit(self.tap_server)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        handler = _timeout_handler()(parts.hostname or "localhost", port, port, self.timeout)
        try:
            job = self._client(handler).launch_job(self.adql(cone), output_format="votable")
            raw = job.get_results()
        except Exception as exc:  # socket, HTTP and VOTable errors alike
            failure = network_failure(exc)
            if failure is None and isinstance(exc, OSError):
                # The connection handler's own socket failed: the network's doing.
                failure = NetworkFailure("offline", f"could not be reached ({exc}; offline?)")
            msg = str(exc).strip().splitlines()
            why = (
                f"the archive {failure.text}"
                if failure
                else f"query failed: {type(exc).__name__}: {msg[0] if msg else ''}"
            )
            raise CatalogError(f"{self.name}: {why}", service=self.name, failure=failure) from exc
        finally:
            handler.close()
        if raw is None:
            raise CatalogError(f"{self.name}: the archive returned no table")
        raw = Table(raw, masked=True)
        raw.rename_columns(raw.colnames, [c.lower() for c in raw.colnames])
        for band, col in (("G", "g"), ("BP", "bp"), ("RP", "rp")):
            key = f"phot_{col}_mean_flux_over_error"
            if key in raw.colnames:
                raw[f"{band}_err_"] = _mag_error(raw[key])
        bands = {
            "G": ("phot_g_mean_mag", "G_err_"),
            "BP": ("phot_bp_mean_mag", "BP_err_"),
            "RP": ("phot_rp_mean_mag", "RP_err_"),
        }
        epoch = "ref_epoch" if "ref_epoch" in raw.colnames else 2016.0
        out = standard_table(
            raw,
            source=self.name,
            ra="ra",
            dec="dec",
            bands=bands,
            pm_ra="pmra",
            pm_dec="pmdec",
            epoch=epoch,
            mag_band="G",
            extra=("source_id",),
            pos_err=("ra_error", "dec_error"),
            pos_err_unit="mas",
        )
        return select_cone(out, cone)
