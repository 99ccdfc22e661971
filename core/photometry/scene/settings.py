"""The knobs of the scene fitter (:func:`.fitter.fit_scene`), each with the numbers that set it."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SceneSettings"]


@dataclass(frozen=True)
class SceneSettings:
    """Knobs of the scene fitter (see crowdsource's developer notes)."""

    threshold: float = 5.0
    """Matched-filter significance of a new star (sigma)."""
    first_pass_factor: float = 3.0
    """The first pass only takes peaks this many times above ``threshold``."""
    model_significance_factor: float = 0.15
    """A new peak must exceed this fraction of the model's own significance there.

    crowdsource's 0.2 guards against the residuals of an imperfect PSF; with
    the blends dropped from the PSF stars the residuals of bright stars are
    smaller, and 0.15 finds more of their faint neighbours: case C
    completeness 0.949 -> 0.952, false detections 522 -> 513; case B 0.951
    -> 0.954, 146 -> 164 (0.1: C 0.956 / 563, B 0.957 / 212).
    """
    iterations: int = 4
    sky_mesh: int = 20
    """Box (px) of the residual sky's cells from the third pass on (the finest scale it follows)."""
    psf_refit: bool = True
    psf_stars: int = 250
    """The brightest clean stars a constant PSF is refitted on after the first refit.

    400 before: case B seeds 7 and 8 have the same completeness, false
    detections and fluxes (bright bins within 0.02 sigma of the oracle's)
    with 250, for 0.6 s less CPU. The first refit (which may choose a
    field-varying PSF) and a varying PSF's refits take up to 400: a
    polynomial field has up to 31 parameters.
    """
    psf_refit_iterations: int = 1
    """Profile-fit iterations of the PSF refits after the first (which takes two).

    (Refits of a field-varying PSF and the empirical ePSF do not use it.)

    Each iteration re-centres the PSF stars and refits the shape; after the
    first refit the stars sit at the scene's centroids and the shape starts
    from the last one. Case B seeds 7 and 8: the same stars and fluxes (to
    0.001 sigma), 0.3-0.7 s less CPU.
    """
    psf_kind: str = "moffat"
    psf_variation: str = "auto"
    """'auto': at the first PSF refit, a field-varying PSF when held-out stars need one."""
    lsqr_tolerance: float = 1e-4
    """LSQR's atol and btol; fluxes change by < 0.01 sigma below 1e-4."""
    lsqr_iterations: int = 10
    """Iteration cap of the passes with derivatives (their solution only moves stars).

    The later passes ran to 30 without converging; at 20 case B seeds 7 and 8
    keep their completeness (0.947, 0.953) and fluxes (within 0.01 sigma of
    the oracle's in every bin from 300 e-) for ~0.5 s less CPU. At 15, with
    the bright stars' final positions from a joint step of their own
    (:func:`.centroids.joint_positions`), case B seeds 191+192: completeness
    0.9586 and the scatter over the crowded bound per bin from 1e3 e- within
    0.006 of 20's, for 0.5 s less CPU over the two frames. At 10 (the last
    pass; the earlier ones at 5) case B seeds 591+592 and 601+602: completeness
    0.959 and 0.960 (0.960, 0.959 at 15), false detections 105 and 75 (102,
    78), the scatter over the crowded bound per bin from 300 e- and the flux
    bias within 0.01 and 0.02 sigma of 15's; case A 611+612 unchanged. At 8
    (3 before) the brightest bin's bias grew from +0.07 to +0.23 sigma.
    """
    lsqr_early_iterations: int = 5
    """Iteration cap of the passes before the last, which the next pass starts from.

    Each pass warm-starts LSQR from the last one's fluxes and shifts, and the
    final fluxes come from the exact forced passes: an early pass only
    needs to move the stars and model them well enough to find the next
    ones. With 5 instead of 15 (the last pass at 15) case B seeds 571+572
    keep their completeness (0.956), false detections (107, 105 at 15) and
    scatter over the crowded bound per bin (within 0.01). At 5 and 10 the
    four passes cost 0.53 CPU s a frame, against 0.81 s at 15 and 15
    (seeds 581-583, alternating in one process).
    """
    joint_shift_snr: float = 10.0
    """Stars above this S/N move by the joint (derivative-column) solution."""
    min_snr_keep: float = 1.0
    """Stars below this S/N after a pass are dropped (noise peaks)."""
    min_snr_final: float = 4.5
    """Stars below this S/N in the last forced pass are left out of the table (not the model).

    A 5-sigma peak of the matched filter whose fitted flux is below 4.5
    sigma is mostly a noise peak or a star fitted 1-2 px from where it is
    (the faint neighbours of bright stars). Case C, seeds 1 and 2: false
    detections 513 -> 306 and 521 -> 323 (4.0: 372, 365), completeness
    0.954 -> 0.9535 and 0.9545 -> 0.9537 (5.0: 0.950).
    """
    located_radius: float = 1.0
    """px: a reported star is a detection of a star within this distance of it."""
    located_probability: float = 0.75
    """Least posterior probability that a faint star lies within ``located_radius`` (0: no test).

    Stars below it leave the table, not the model (:mod:`.located`). A star
    at S/N 5-8 that the fit puts 1-2.5 px from where it is (a noise peak or
    an undetected neighbour pulling it) is a miss and a false detection at
    once. The Cramér-Rao position error in the crowded scene (the
    neighbours' fluxes and positions free) picks them out no better than
    the S/N does; the posterior of the position does a little.

    Case B, completeness / false detections of seeds 171+172, 1+2,
    181+182 and 191+192:

    - without the test: 0.958/116, 0.954/142, 0.955/131, 0.959/123;
    - at 0.75: 0.956/95, 0.953/116, 0.952/112, 0.957/100;
    - at 0.8: 0.953/82, 0.950/98, 0.949/103, 0.954/91;
    - the S/N cut at 5.0 instead: 0.954/98, 0.951/123, 0.952/113, 0.955/100.

    With the bright stars' joint final step (bench_photometry, crowdsource
    in the same runs): 171+172 0.956/103 (crowdsource 0.901/96), 1+2
    0.953/116 (0.900/83), 201+202 0.954/98 (0.900/97). Case FB seed 1:
    0.960/43 -> 0.959/40; case A seeds 101+102: 0.975/9 -> 0.974/5.
    Isolated stars at S/N 5.8: 44 of 1740 left out, 13 of them misplaced
    (tests/core/test_scene_located.py).
    """
    placed_probability: float = 0.85
    """Least probability, from its position errors, that a star lies within ``located_radius``.

    Stars below it leave the table, not the model (:func:`.located.unplaced`;
    0: no test): a star the data cannot place is not a detection that can be
    reported where the star is. The errors are Gaussian (the neighbours
    free) where :attr:`located_probability`'s posterior holds them fixed;
    the share of faint stars fitted 1-2.5 px away is 1.6 to 6 times the
    isolated star's Cramér-Rao one at S/N 5-8 in case B, hence the higher
    probability (an error of at most 0.51 px per axis at 1 px).

    Case B, completeness / false detections of pairs 2201+2202, 2203+2204,
    2211+2212, 2221+2222 (crowdsource 108, -, 91, 96 false): without the
    test 0.9492/84, 0.9528/99, 0.9542/79, 0.9513/102; at 0.85 0.9475/74,
    0.9510/88, 0.9525/66, 0.9493/91; at 0.865 (0.5 px) 0.9454/72,
    0.9499/84, 0.9516/61, 0.9480/88. Case A, seeds 2201-2206: 0.9797/22 ->
    0.9788/21. Lowering ``min_snr_final`` to 4.0 adds no star: the tests
    after it leave them out.
    """
    shadow_radius: float = 2.0
    """FWHMs within which brighter neighbours may take a faint star's light (0: no test).

    The final significance test of :func:`_needed`; 3 FWHM changes nothing.
    """
    shadow_snr: float = 4.0
    """S/N, with its brighter neighbours free, below which a reported star is a split.

    Case B, seeds 51+52 and 91+92 (without the test: completeness 0.951 and
    0.950, false detections 142 and 158, of which 21 and 28 splits beside
    bright stars): at 4.0 0.952 and 0.951, 109 and 140 (8 and 10 splits);
    at 4.5 (the reporting cut) 0.950 and 0.948, 102 and 132, real
    companions of bright stars being lost too; at 3.0 0.951, 144 on 91+92.
    """
    final_shadow_snr: float = 4.5
    """S/N, with its brighter neighbours free, below which a star leaves the table (0: no test).

    The test of ``shadow_snr`` again at the reported positions (after the
    faint companions are placed), at the reporting cut ``min_snr_final``;
    such stars stay in the model (their light is still fitted) and only
    leave the table. Case B, false detections and completeness of fresh
    pairs (bench_photometry's scoring): 1601+1602 100 -> 96, 0.9519 ->
    0.9515; 1611+1612 102 -> 96, 0.9551 -> 0.9544; 1621+1622 92 -> 84,
    0.9558 -> 0.9551 (splits and "nothing" rows 15 -> 3); seeds 1501-1504
    205 -> 181, 0.9533 -> 0.9527. Raising the S/N cut to 5.0 instead costs
    0.0024 of completeness for 13 % of the false detections.
    """
    leftover_threshold: float = 4.0
    """Significance (sigma) of the peaks added after the forced pass beside known stars.

    Lower than ``threshold`` where the model itself is significant (the
    companions of known stars, which a blend hides), with the model-aware
    test rejecting the residuals of bright stars; elsewhere ``threshold``.
    """
    split_snr: float = 10.0
    """Stars from this S/N up are tested for being two stars (:mod:`.split`; 0: no test)."""
    split_rchi2: float = 1.2
    """Only stars whose core fits worse than this (reduced chi-square) are tested.

    Blends fitted as one star have a reduced chi-square of 1.0-1.8 in their
    core, three quarters of the stars below 1.2; testing all stars above S/N
    10 instead of these finds 34 blends in case B seeds 111+112 instead of
    28, for three times the time.
    """
    split_dchi2: float = 30.0
    """Least drop of the chi-square for a split (the best of 88 trial offsets)."""
    position_debias: bool = True
    """Remove the flux bias of positions fitted on the same noise (:func:`_position_debias`).

    Case A seeds 101+102, bias added over the oracle (which knows the
    positions) in the 300/1e3/3e3/1e4 e- bins: +0.10/+0.04/+0.03/+0.04 ->
    -0.03/-0.02/+0.01/+0.03 sigma. Case B seeds 111+112: +0.09/-0.01/-0.03/
    -0.04 -> -0.05/-0.07/-0.05/-0.05, the bias of the sky that holds the
    light of the stars below the detection limit, which the position bias
    hid in the faint bins. Completeness, false detections and scatter are
    unchanged.
    """
    leftover_model_factor: float = 0.1
    """``model_significance_factor`` of the peaks added after the forced pass.

    Half the passes' value: with the PSF refitted the residual of a bright
    star is small, and 0.2 rejects real companions at 2-3 px from stars ten
    times brighter. With ``leftover_threshold`` 4: case B completeness
    0.943 -> 0.947, false detections 118 -> 122 of 3900 sources; case A
    unchanged (0.980, 8 false). A global 4-sigma pass reaches 0.950 in case
    B but adds ~20 pure-noise peaks per Mpx (case A: 8 -> 40 false).
    """
    merge_radius: float = 0.6
    """FWHMs: pairs of stars closer than this are tested for being one star (:mod:`.merge`)."""
    merge_dchi2: float = 30.0
    """Least chi-square gain of a pair's second star over one star (0: no test).

    The same threshold as ``split_dchi2``: a blend split with more gain stays
    split. Case B seeds 1+2: false detections 147 -> 142 (second detections
    of one star 12 -> 8), completeness 0.954 and the scatter per bin
    unchanged; seeds 3+4: 133 -> 134, 0.952; case FB seed 1: 0.960 / 43 ->
    0.959 / 44. About 30 of the ~60 pairs per case B frame are merged, most
    of them a star and a faint remnant of itself that the S/N cut would
    have dropped; 0.04 s of CPU.
    """
