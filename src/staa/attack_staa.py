"""Evaluate a trained STAA-Net generator against one victim (white-box if victim == threat)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from staa.data.prepare import load_classes, load_split
from staa.evaluate import attack_metrics, predict_array, time_per_utterance, write_attack_outputs, write_examples
from staa.models import load_victim
from staa.provenance import provenance
from staa.runtime import describe_device
from staa.train_generator import load_generator


@torch.no_grad()
def generate(gen, x: np.ndarray, eps: float, device: torch.device, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Adversarial waveforms and hard masks for a whole split, one forward pass per batch."""
    advs, masks = [], []
    for i in range(0, x.shape[0], batch_size):
        out = gen(torch.from_numpy(np.array(x[i:i + batch_size], dtype=np.float32)).to(device), eps)
        advs.append(out.x_adv.cpu().numpy())
        masks.append((out.m != 0).cpu().numpy())
    return np.concatenate(advs), np.concatenate(masks)


def evaluate_staa(params: dict[str, Any], data_dir: str | Path, generator_path: str | Path, victim_path: str | Path,
                  out_dir: str | Path, device: torch.device, subset_ids: list[str] | None = None,
                  log=sys.stderr) -> dict[str, Any]:
    """params: dataset, threat, variant, victim, throughput_batch, n_examples, frame_ms, timing_utterances."""
    out_dir = Path(out_dir)
    info = load_classes(data_dir)
    classes, sr = info["classes"], int(info["sample_rate"])
    x, table = load_split(data_dir, "test")
    x = np.asarray(x, dtype=np.float32)
    gen, meta = load_generator(generator_path, device)
    victim = load_victim(victim_path, device)
    eps = float(meta["eps"])
    bs = int(params.get("throughput_batch", 32))

    # throughput: whole split in batches; the outputs are the adversarial examples we score
    t0 = torch.cuda.Event(enable_timing=True) if device.type == "cuda" else None
    import time
    start = time.perf_counter()
    x_adv, mask = generate(gen, x, eps, device, bs)
    if device.type == "cuda":
        torch.cuda.synchronize()
    throughput = x.shape[0] / (time.perf_counter() - start)
    # latency: one utterance at a time (the paper's setting), and the victim's own forward time
    n_time = int(params.get("timing_utterances", 50))
    sec = time_per_utterance(lambda xi: gen(xi, eps), x, device, n_time)
    sec_victim = time_per_utterance(lambda xi: victim(xi), x, device, n_time)

    labels = table["label_idx"].to_numpy()
    clean_pred = predict_array(victim, x, device)
    adv_pred = predict_array(victim, x_adv, device)
    frame = max(1, int(round(float(params.get("frame_ms", 20)) * sr / 1000)))
    speakers = table["speaker"].astype(str).to_numpy()
    metrics, per = attack_metrics(x, x_adv, labels, clean_pred, adv_pred, frame, perturbed=mask, speakers=speakers,
                                  sample_rate=sr)
    white = params["victim"] == params["threat"]
    metrics.update({
        "dataset": params["dataset"], "attack": "staa", "method_family": "staa", "threat": params["threat"],
        "variant": params["variant"], "victim": params["victim"], "white_box": white, "subset": "full",
        "seed": int(params.get("seed", 0)),
        "eps": eps, "seconds_per_utterance": float(sec.mean()), "seconds_per_utterance_median": float(np.median(sec)),
        "victim_seconds_per_utterance_median": float(np.median(sec_victim)),
        "throughput_utt_per_s": float(throughput), "throughput_batch": bs, "device": describe_device(device),
        "threads": torch.get_num_threads(), "subset_metrics": None,
    })
    if subset_ids:
        sel = table["utt_id"].astype(str).isin(set(subset_ids)).to_numpy()
        sub, _ = attack_metrics(x[sel], x_adv[sel], labels[sel], clean_pred[sel], adv_pred[sel], frame, mask[sel],
                                speakers=speakers[sel], sample_rate=sr)
        metrics["subset_metrics"] = {k: sub[k] for k in ("asr", "success_vs_truth", "snr_peak_db", "snr_energy_db",
                                                         "l0", "l0_percent", "l0_frames_percent", "n_utterances",
                                                         "si_sdr_db", "stoi")}
    metrics["provenance"] = provenance(params, metrics["device"])
    write_attack_outputs(out_dir, metrics, per, table, classes, seconds=None)
    if white:
        write_examples(out_dir, table, x, x_adv, mask, classes, clean_pred, adv_pred, sr,
                       int(params.get("n_examples", 3)))
    print(f"[staa {params['threat']}/{params['variant']} -> {params['victim']}] ASR {metrics['asr']:.3f} "
          f"L0 {metrics['l0_percent']} % SNR {metrics['snr_peak_db']} dB, {np.median(sec) * 1e3:.2f} ms/utt "
          f"(victim {np.median(sec_victim) * 1e3:.2f} ms)", file=log, flush=True)
    return metrics
