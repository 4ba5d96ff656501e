# Timing stage: STAA-Net vs every baseline, per utterance, same inputs/device/threads (docs/design.md §6).


rule timing:
    """Median seconds per utterance at batch size 1 and the speed-up of STAA-Net over each baseline."""
    input:
        "results/data/{dataset}/classes.json",
        "results/data/{dataset}/test.npy",
        subset=lambda wc: subset_file(wc.dataset, timing_seed()),
        generator=lambda wc: f"results/generators/{wc.dataset}/{wc.threat}/{timing_variant()}/seed{timing_seed()}/generator.pt",
        threat=lambda wc: victim_model(wc.dataset, wc.threat, timing_seed()),
    output:
        "results/timing/{dataset}/{threat}.csv",
    log:
        "results/logs/timing/{dataset}/{threat}.log",
    benchmark:
        "results/benchmarks/timing/{dataset}/{threat}.tsv"
    conda:
        "../envs/staa.yaml"
    threads: job_threads()
    resources:
        gpu=0,
    params:
        p=timing_params,
    shell:
        staa_cli(
            "timing --data-dir results/data/{wildcards.dataset:q} --subset {input.subset:q} "
            "--generator {input.generator:q} --threat-model {input.threat:q} --out {output:q} "
            "--params {params.p:q} --threads {threads} --gpus {resources.gpu} > {log:q} 2>&1"
        )
