"""`edsc eval` and `edsc bundle report`: the paper's evaluation (Fig. 4, Tables I, III, IV, the attribute-matching
ablation, fading) and a bundle's quality checks.

Modules
-------
:mod:`edsc.eval.metrics`     LPIPS, FID / KID (torchmetrics on the offline InceptionV3), SSIM, PSNR, editing
                             accuracy, identity drift, time and peak memory.
:mod:`edsc.eval.schemes`     the five methods of Fig. 4: Editable-DeepSC and the JPEG+LDPC / DeepJSCC baselines with
                             the edit after (M1) or before (M2) the link.
:mod:`edsc.eval.run`         the experiments, their configuration (full and ``--quick`` presets) and the result
                             tables.
:mod:`edsc.eval.report`      CSV files, PNG plots and ``report.md`` with verdicts computed from the numbers.
:mod:`edsc.eval.checks`      the check and verdict engine of both tools: numbers judged by stated rules.
:mod:`edsc.eval.inversions`  the inversion cache of both tools.
:mod:`edsc.eval.bundle`      ``edsc bundle report``: sections, rules, shared context and Markdown.
"""
