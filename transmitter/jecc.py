"""Joint Editing-Channel Coding (JECC): the editing loop of the transmitter (paper eq. 10–11).

For each image the attribute predictor P reads the original's degrees a_1..a_m; the requested edit gives the
expected degree a_exp (eq. 10, :func:`transmitter.instruction.expected_degree`). The latent then walks along the
attribute's field function,

    E(t) = E(t−1) + d · M(E(t−1))                     (eq. 11)

and after every step G renders and P predicts. Stopping follows Talk-to-Edit's logic:

- ``already_at_target``: the original already shows a_exp; the latent is sent unedited;
- ``reached``: the target attribute's predicted degree equals a_exp. By default the walk goes on for at most
  ``refine_steps`` more steps while the degree stays at a_exp (the target "stage") and keeps the candidate
  that P is most confident about; it stops as soon as the degree leaves the stage (passes the target).
  ``refine_steps=0`` is the paper's plain rule: stop at the first step that reaches a_exp. With
  ``keep_others`` a candidate's score is P's confidence in a_exp times P's probability that every *other*
  attribute still shows its original degree, so among the candidates of the stage the one that changed the
  least else wins (our addition, on by default; the walk itself is unchanged). With ``channel_draws`` and a
  ``channel`` (the transmitter's simulation of A_CE → AWGN at the message's SNR → A_CD), a candidate is scored
  as the receiver will see it: the mean of that score over ``channel_draws`` simulated receptions, so the edit
  that survives the link best is sent (joint editing-channel coding at the decision, not only in training;
  our addition);
- ``passed_target``: one step carried the predicted degree over a_exp without landing on it (e.g. 1 → 3 for
  a_exp 2); the walk stops there and the candidate whose predicted probability of a_exp was highest is sent (the
  original included). Walking on in the same direction only moves away from the target; before this rule such
  walks ran on for up to ``max_steps`` steps, the latent grew without bound (the field is a residual MLP, close
  to linear for large inputs) and P, reading the resulting noise images, eventually "reached" a_exp by chance
  (5 of the full evaluation's 64 edits, latent norms 1,000–285,000 against a median of 40);
- ``max_iterations``: ``max_steps`` (r_edit) steps in all, or ``stage_patience`` steps without the degree
  changing, passed without reaching a_exp; the candidate whose predicted probability of a_exp was highest is
  sent.

The loop is batched: every image of a batch has its own attribute, direction and target; finished images are
frozen while the others go on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable

import torch

from shared.errors import InvalidArgumentError

STATUSES = ("reached", "already_at_target", "passed_target", "max_iterations")

StepProgressFn = Callable[[int, int, int], None]  # (step, max_steps, images still editing)


@dataclass
class JECCConfig:
    """Parameters of the editing loop.

    max_steps : r_edit, the most field steps per image (100, as Talk-to-Edit's per-stage budget).
    stage_patience : give up after this many steps without the predicted degree changing (100).
    refine_steps : steps taken after first reaching a_exp while looking for the most confident candidate
        (0 = stop at once, the paper's rule).
    keep_others : score candidates also by P's probability that the other attributes kept their degrees
        (on the bundle report's 200 faces at 18 dB: others unchanged 79.3 → 84.5 %, target reached
        76.5 → 75.0 %, identity drift ratio 0.683 → 0.655).
    channel_draws : simulated receptions per candidate of the target stage when :func:`run_jecc` is given a
        ``channel`` (0 = judge G(w) itself, the paper's view; on the bundle report's 200 faces, 4 draws: target
        reached 66.5 → 71.0 % and others unchanged 69.5 → 67.9 % at 0 dB, 82.5 → 83.5 % and 89.0 → 89.4 %
        at 18 dB).
    """

    max_steps: int = 100
    stage_patience: int = 100
    refine_steps: int = 3
    keep_others: bool = True
    channel_draws: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.max_steps <= 10_000:
            raise InvalidArgumentError(f"max_steps (r_edit) must lie in [1, 10000], got {self.max_steps}")
        if self.stage_patience < 1 or self.refine_steps < 0:
            raise InvalidArgumentError("stage_patience must be >= 1 and refine_steps >= 0")
        if isinstance(self.channel_draws, bool) or not (isinstance(self.channel_draws, int)
                                                        and 0 <= self.channel_draws <= 64):
            raise InvalidArgumentError(f"channel_draws must be an integer in [0, 64], got {self.channel_draws!r}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class EditOutcome:
    """Per-image result of :func:`run_jecc`."""

    status: str
    attribute: str
    degrees_before: list[int]                 # P's degrees of the inverted original, one per attribute
    degrees_after: list[int]                  # P's degrees of the sent latent
    expected_degree: int                      # a_exp
    confidence: float                         # P's confidence in the target attribute's degree after the edit
    iterations: int                           # field steps taken
    trajectory: list[int] = field(default_factory=list)  # predicted target degree after each step

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class JECCResult:
    w: torch.Tensor                            # (B, D) edited latents
    outcomes: list[EditOutcome]


def field_step(fields: torch.nn.Module, w: torch.Tensor, attr: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """One field step per item, each along its own attribute's field: (B, D) → (B, D)."""
    out = torch.empty_like(w)
    for a in attr.unique().tolist():
        sel = (attr == a).nonzero(as_tuple=True)[0]
        out[sel] = fields.step(w[sel], int(a), direction[sel].to(w.dtype))
    return out


def _others_kept(logits: torch.Tensor, degrees0: torch.Tensor, attr: torch.Tensor) -> torch.Tensor:
    """P(every attribute but the target shows its original degree): (b, m, u+1), (b, m), (b,) → (b,)."""
    p = logits.softmax(-1).gather(-1, degrees0.unsqueeze(-1)).squeeze(-1)   # (b, m), a new tensor
    p[torch.arange(p.shape[0], device=p.device), attr] = 1.0
    return p.prod(-1)


ChannelFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (latents (b, D), item rows (b,)) → (b, D)


def _received_score(generator: torch.nn.Module, predictor: torch.nn.Module, channel: ChannelFn, w: torch.Tensor,
                    rows: torch.Tensor, attr: torch.Tensor, a_exp: torch.Tensor, degrees0: torch.Tensor,
                    draws: int, keep_others: bool) -> torch.Tensor:
    """Mean over ``draws`` simulated receptions of P(a_exp) [× P(others kept)] on G(received latent): (b,)."""
    b = w.shape[0]
    rep = lambda t: t.repeat(draws, *([1] * (t.ndim - 1)))                # noqa: E731  (draws·b, ...)
    w_rx = channel(rep(w), rep(rows))                                       # (draws·b, D)
    logits = predictor.predict(generator.synthesis(w_rx)).logits            # (draws·b, m, u+1)
    score = logits.softmax(-1)[torch.arange(draws * b, device=w.device), rep(attr), rep(a_exp)]
    if keep_others:
        score = score * _others_kept(logits, rep(degrees0), rep(attr))
    return score.reshape(draws, b).mean(0)


@torch.no_grad()
def run_jecc(generator: torch.nn.Module, predictor: torch.nn.Module, fields: torch.nn.Module,
             w: torch.Tensor, attributes: list[int], targets_fn: Callable[[torch.Tensor], list[int]],
             config: JECCConfig | None = None, progress: StepProgressFn | None = None,
             channel: ChannelFn | None = None) -> JECCResult:
    """Edit a batch of latents until each reaches its expected degree.

    Parameters
    ----------
    generator : renders G(w) (``synthesis``).
    predictor : attribute predictor with ``predict(images) -> AttributePrediction`` (``logits`` (B, m, u+1),
        ``degree`` (B, m), ``confidence`` (B, m)) and ``attributes`` (names).
    fields : field bank with ``step(w (b, D), attribute_index: int, direction (b,)) -> w (b, D)``.
    w : (B, D) latents of the originals.
    attributes : per image, the index of the target attribute.
    targets_fn : maps the original's degrees (B, m) to the expected degree a_exp per image (eq. 10).
    config : :class:`JECCConfig`.
    progress : called after every step with (step, max_steps, images still editing).
    channel : one simulated reception of latents: (latents (b, D), the items' rows in the batch (b,)) → the
        receiver's latent estimates (b, D); used with ``config.channel_draws`` to score the target stage's
        candidates.

    Output
    ------
    :class:`JECCResult`
    """
    config = config or JECCConfig()
    batch = w.shape[0]
    if len(attributes) != batch:
        raise InvalidArgumentError(f"{len(attributes)} attributes for {batch} latents")
    names = list(predictor.attributes)
    device = w.device
    attr = torch.as_tensor(attributes, dtype=torch.long, device=device)      # (B,)
    rows = torch.arange(batch, device=device)

    pred0 = predictor.predict(generator.synthesis(w))
    degrees0 = pred0.degree                                                   # (B, m)
    a_exp = torch.as_tensor(targets_fn(degrees0), dtype=torch.long, device=device)  # (B,)
    current = degrees0[rows, attr]                                            # (B,)
    direction = torch.sign(a_exp - current)                                   # (B,) −1, 0, +1

    w_cur = w.clone()
    best_w = w.clone()
    best_score = torch.full((batch,), -1.0, device=device)    # confidence of the best candidate at a_exp
    fallback_w = w.clone()
    fallback_score = pred0.logits.softmax(-1)[rows, attr, a_exp]   # P(degree = a_exp) of the original
    reached = torch.zeros(batch, dtype=torch.bool, device=device)
    refine_left = torch.full((batch,), config.refine_steps, device=device)
    stage_label = current.clone()
    stage_steps = torch.zeros(batch, dtype=torch.long, device=device)
    steps_taken = torch.zeros(batch, dtype=torch.long, device=device)
    active = direction != 0
    status = ["already_at_target" if d == 0 else "max_iterations" for d in direction.tolist()]
    trajectories: list[list[int]] = [[] for _ in range(batch)]

    for step in range(1, config.max_steps + 1):
        if not bool(active.any()):
            break
        idx = active.nonzero(as_tuple=True)[0]                                # images still editing
        w_next = field_step(fields, w_cur[idx], attr[idx], direction[idx])    # (b, D)
        pred = predictor.predict(generator.synthesis(w_next))
        label = pred.degree[torch.arange(len(idx), device=device), attr[idx]]  # (b,)
        conf = pred.confidence[torch.arange(len(idx), device=device), attr[idx]]
        if config.keep_others:
            conf = conf * _others_kept(pred.logits, degrees0[idx], attr[idx])
        prob_target = pred.logits.softmax(-1)[torch.arange(len(idx), device=device), attr[idx], a_exp[idx]]
        if channel is not None and config.channel_draws > 0:
            stage = (label == a_exp[idx]).nonzero(as_tuple=True)[0]            # candidates of the target stage
            if stage.numel():
                i_s = idx[stage]
                conf[stage] = _received_score(generator, predictor, channel, w_next[stage], i_s, attr[i_s],
                                              a_exp[i_s], degrees0[i_s], config.channel_draws, config.keep_others)
        w_cur[idx] = w_next
        steps_taken[idx] += 1

        for j, i in enumerate(idx.tolist()):
            lab = int(label[j])
            trajectories[i].append(lab)
            if lab != int(stage_label[i]):
                stage_label[i] = lab
                stage_steps[i] = 0
            stage_steps[i] += 1
            if lab == int(a_exp[i]):
                if not reached[i] or float(conf[j]) > float(best_score[i]):
                    best_w[i] = w_next[j]
                    best_score[i] = conf[j]
                if reached[i]:
                    refine_left[i] -= 1
                reached[i] = True
                status[i] = "reached"
                if refine_left[i] <= 0:
                    active[i] = False
            elif reached[i]:                      # the degree left the target stage: stop, keep the best
                active[i] = False
            else:
                if float(prob_target[j]) > float(fallback_score[i]):
                    fallback_w[i] = w_next[j]
                    fallback_score[i] = prob_target[j]
                if (lab - int(a_exp[i])) * int(direction[i]) > 0:   # stepped over a_exp: walking on leads away
                    status[i] = "passed_target"
                    active[i] = False
                elif stage_steps[i] >= config.stage_patience:
                    active[i] = False
        if progress is not None:
            progress(step, config.max_steps, int(active.sum()))

    w_out = torch.where(reached[:, None], best_w, torch.where((direction == 0)[:, None], w, fallback_w))
    pred_final = predictor.predict(generator.synthesis(w_out))
    outcomes = []
    for i in range(batch):
        outcomes.append(EditOutcome(
            status=status[i],
            attribute=names[int(attr[i])],
            degrees_before=[int(v) for v in degrees0[i].tolist()],
            degrees_after=[int(v) for v in pred_final.degree[i].tolist()],
            expected_degree=int(a_exp[i]),
            confidence=float(pred_final.confidence[i, attr[i]]),
            iterations=int(steps_taken[i]),
            trajectory=trajectories[i],
        ))
    return JECCResult(w=w_out, outcomes=outcomes)
