# Generator stage: one STAA-Net generator per (dataset, threat model, variant) (docs/design.md §4).


rule train_generator:
    """Train a STAA-Net generator against a frozen threat model (checkpoint per epoch, resumable)."""
    input:
        "results/data/{dataset}/classes.json",
        multiext("results/data/{dataset}/train", ".npy", ".csv"),
        multiext("results/data/{dataset}/dev", ".npy", ".csv"),
        threat=lambda wc: victim_model(wc.dataset, wc.threat, wc.seed),
    output:
        model="results/generators/{dataset}/{threat}/{variant}/seed{seed}/generator.pt",
        log_csv="results/generators/{dataset}/{threat}/{variant}/seed{seed}/train_log.csv",
        summary="results/generators/{dataset}/{threat}/{variant}/seed{seed}/train_summary.json",
    log:
        "results/logs/train_generator/{dataset}/{threat}/{variant}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train_generator/{dataset}/{threat}/{variant}/seed{seed}.tsv"
    conda:
        "../envs/staa.yaml"
    threads: job_threads()
    resources:
        gpu=0,
    params:
        p=generator_params,
    shell:
        staa_cli(
            "train-generator --data-dir results/data/{wildcards.dataset:q} --threat-model {input.threat:q} "
            "--model {output.model:q} --train-log {output.log_csv:q} --summary {output.summary:q} "
            "--params {params.p:q} --threads {threads} --gpus {resources.gpu} > {log:q} 2>&1"
        )
