# Victim stage: train and evaluate every victim model of every dataset (docs/design.md §3).


rule train_victim:
    """Train one victim (per-epoch checkpoint, resumable), evaluate it on the test split."""
    input:
        "results/data/{dataset}/classes.json",
        multiext("results/data/{dataset}/train", ".npy", ".csv"),
        multiext("results/data/{dataset}/dev", ".npy", ".csv"),
        multiext("results/data/{dataset}/test", ".npy", ".csv"),
        # a user's model on disk (an exported .pt2, a local checkpoint folder): a changed file reruns the job
        model_files=victim_model_files,
    output:
        model="results/victims/{dataset}/{victim}/seed{seed}/model.pt",
        metrics="results/victims/{dataset}/{victim}/seed{seed}/metrics.json",
        log_csv="results/victims/{dataset}/{victim}/seed{seed}/train_log.csv",
    log:
        "results/logs/train_victim/{dataset}/{victim}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train_victim/{dataset}/{victim}/seed{seed}.tsv"
    conda:
        "../envs/staa.yaml"
    threads: job_threads()
    resources:
        gpu=0,
    params:
        p=victim_params,
    shell:
        staa_cli(
            "train-victim --name {wildcards.victim:q} --data-dir results/data/{wildcards.dataset:q} "
            "--model {output.model:q} --metrics {output.metrics:q} --train-log {output.log_csv:q} --params {params.p:q} "
            "--threads {threads} --gpus {resources.gpu} > {log:q} 2>&1"
        )


rule victims_table:
    """Gather every victim's clean WA/UA into one CSV."""
    input:
        lambda wc: [m for ds in run_datasets() for m in victim_targets(ds)],
    output:
        multiext("results/tables/victims", ".csv", ".md", ".tex"),
    log:
        "results/logs/victims_table.log",
    conda:
        "../envs/staa.yaml"
    params:
        out_dir=lambda wc, output: str(Path(output[0]).parent),
    shell:
        staa_cli("victims-table --out-dir {params.out_dir:q} {input:q} > {log:q} 2>&1")
