"""Inputs and quality of a load test: the built-in image, the noise-free reference results and LPIPS.

The services have no noiseless channel (the SNR is capped at 40 dB, shared.channel.limits), so the reference of an
(image, instruction) pair is the same request sent once, before the load, over AWGN at 40 dB (noise power 10⁻⁴ of
the signal's) with the same inversion / editing budgets. Each received image is then compared with its pair's
reference by LPIPS-alex (official weights, :func:`shared.lpips.get_lpips`). Unlike ``edsc edit``'s
``lpips_vs_noiseless`` (which renders the edited latent directly, without A_CE / A_CD), the reference goes through
the adapters at 40 dB and through its own inversion and JECC run; a micro-batched inversion may differ from it in the
last digits, which LPIPS then counts as well.

Runs in the CLI process (torch, no gevent).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from shared.errors import EditDSCError

REFERENCE_SNR_DB = 40.0
DEFAULT_INSTRUCTIONS = ("make the person smile a lot more", "add glasses", "make the bangs a bit longer")
LPIPS_BATCH = 32


def builtin_image(resolution: int = 128) -> tuple[str, bytes]:
    """The default input: a SynthFace face (the one ``edsc demo`` sends); skimage's astronaut when the renderer
    is unavailable. Returns (name, PNG bytes)."""
    try:
        import torch

        from edsc.world.synthface import render, sample_identity
        from shared.image_io import encode_png

        ident = sample_identity(1, torch.Generator().manual_seed(3))
        face = render(ident, torch.tensor([[0.0, 0.0, 0.0, 1.0, 2.0]]), size=resolution)
        return "synthface", encode_png(face[0])
    except Exception:  # noqa: BLE001 - the renderer is optional; the astronaut always exists
        from PIL import Image
        from skimage import data

        buf = io.BytesIO()
        Image.fromarray(data.astronaut()).save(buf, format="PNG")
        return "astronaut", buf.getvalue()


def read_image(path: Path) -> bytes:
    """A user's image file, checked the way the transmitter will (decodable, within the size limits)."""
    from shared.image_io import decode_image

    path = Path(path)
    if not path.is_file():
        raise EditDSCError(f"--image {path}: no such file")
    data = path.read_bytes()
    decode_image(data, name=str(path))
    return data


def send_references(client, pairs: list[tuple[bytes, str]], *, run_id: str, seed: int, inversion_steps: int,
                    edit_steps: int, timeout_s: float, out_dir: Path) -> list[str]:
    """Send each (image, instruction) once at :data:`REFERENCE_SNR_DB` over AWGN and store its PNG.

    Parameters
    ----------
    client : an :class:`edsc.client.EditDSCClient`; pairs : (image bytes, instruction) per template

    Output
    ------
    The reference request ids (``<run_id>-ref-<i>``); ``out_dir/<id>.png`` per reference.

    Raises
    ------
    EditDSCError
        when a reference fails (a bad instruction, a service down): the message names the pair.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ids = []
    for i, (image, instruction) in enumerate(pairs):
        rid = f"{run_id}-ref-{i}"
        try:
            client.submit(image, instruction, REFERENCE_SNR_DB, {"model": "awgn"}, seed=seed, request_id=rid,
                          inversion_steps=inversion_steps, edit_steps=edit_steps, timeout_s=timeout_s,
                          stream=False)
            png = client.image(rid, wait_s=10)
        except EditDSCError as exc:
            raise EditDSCError(f"the reference request for {instruction!r} failed: {exc}") from None
        (out_dir / f"{rid}.png").write_bytes(png)
        ids.append(rid)
    return ids


def check_lpips_available(device: str = "cpu") -> None:
    """Load LPIPS-alex now, so missing weights stop the run before any load (WeightsUnavailableError)."""
    from shared.lpips import get_lpips

    get_lpips("alex", device)


def _tensor(path: Path):
    from PIL import Image

    from shared.image_io import pil_to_tensor

    with Image.open(path) as img:
        return pil_to_tensor(img.convert("RGB"))


def score_lpips(rows: list[dict[str, Any]], reference_dir: Path, device: str = "cpu") -> int:
    """Set ``row["lpips"]`` for every row with a received image and a reference; returns how many were scored.

    Rows need ``image_path`` and ``reference_id``; the reference PNG is ``reference_dir/<reference_id>.png``.
    Images are compared at the size they arrive in (the bundle's resolution), in batches of :data:`LPIPS_BATCH`.
    """
    import torch

    from shared.lpips import get_lpips

    metric = get_lpips("alex", device)
    todo = [r for r in rows if r.get("image_path") and r.get("reference_id")
            and Path(r["image_path"]).is_file() and (Path(reference_dir) / f"{r['reference_id']}.png").is_file()]
    refs: dict[str, Any] = {}
    for start in range(0, len(todo), LPIPS_BATCH):
        chunk = todo[start:start + LPIPS_BATCH]
        received = torch.cat([_tensor(Path(r["image_path"])) for r in chunk])
        reference = torch.cat([refs.setdefault(r["reference_id"],
                                               _tensor(Path(reference_dir) / f"{r['reference_id']}.png"))
                               for r in chunk])
        with torch.no_grad():
            scores = metric(received.to(device), reference.to(device)).cpu().tolist()
        for r, v in zip(chunk, scores):
            r["lpips"] = float(v)
    return len(todo)


def lpips_note(enabled: bool) -> str:
    """How the LPIPS column was obtained, for summary.json and the report."""
    if not enabled:
        return "off (--no-lpips)"
    return (f"LPIPS-alex (official weights) of each received image against the same (image, instruction) sent once "
            f"before the load over AWGN at {REFERENCE_SNR_DB:g} dB, the highest SNR the services accept (they have "
            "no noiseless channel); the references are in references/.")

