# Baselines stage: PGD, SparseFool, one-pixel on a seeded test subset, against each threat model;
# the stored adversarials are scored on every victim (white-box and transfer) by the same scoring
# rule as STAA-Net's (score_staa in rules/attacks.smk, reused here).


rule make_subset:
    """The seeded test subset shared by every baseline (and reported for STAA-Net too)."""
    input:
        "results/data/{dataset}/test.csv",
    output:
        "results/attacks/{dataset}/subsets/seed{seed}.csv",
    log:
        "results/logs/make_subset/{dataset}/seed{seed}.log",
    conda:
        "../envs/staa.yaml"
    params:
        p=subset_params,
    shell:
        staa_cli(
            "make-subset --data-dir results/data/{wildcards.dataset:q} --out {output:q} --params {params.p:q} > {log:q} 2>&1"
        )


rule attack_baseline:
    """Run one baseline on the subset against its threat model, batch size 1, timing each utterance."""
    input:
        "results/data/{dataset}/classes.json",
        "results/data/{dataset}/test.npy",
        subset="results/attacks/{dataset}/subsets/seed{seed}.csv",
        threat=lambda wc: victim_model(wc.dataset, wc.threat, wc.seed),
    output:
        adv="results/attacks/{dataset}/{method}/{threat}/seed{seed}/adversarial.npy",
        alog="results/attacks/{dataset}/{method}/{threat}/seed{seed}/attack_log.csv",
    log:
        "results/logs/attack_baseline/{dataset}/{method}/{threat}/seed{seed}.log",
    benchmark:
        "results/benchmarks/attack_baseline/{dataset}/{method}/{threat}/seed{seed}.tsv"
    conda:
        "../envs/staa.yaml"
    threads: job_threads()
    resources:
        gpu=0,
    params:
        p=baseline_params,
    shell:
        staa_cli(
            "attack-baseline --data-dir results/data/{wildcards.dataset:q} --subset {input.subset:q} "
            "--threat-model {input.threat:q} --adversarial {output.adv:q} --attack-log {output.alog:q} "
            "--params {params.p:q} --threads {threads} --gpus {resources.gpu} > {log:q} 2>&1"
        )


use rule score_staa as score_baseline with:
    input:
        unpack(baseline_score_inputs),
    output:
        metrics="results/attacks/{dataset}/{method}/{threat}/seed{seed}/on_{victim}/metrics.json",
        per_utt="results/attacks/{dataset}/{method}/{threat}/seed{seed}/on_{victim}/per_utterance.csv",
    log:
        "results/logs/score_baseline/{dataset}/{method}/{threat}/seed{seed}/on_{victim}.log",
    benchmark:
        "results/benchmarks/score_baseline/{dataset}/{method}/{threat}/seed{seed}/on_{victim}.tsv"
    params:
        p=baseline_score_params,
        subset=lambda wc, input: input.subset,
        mask="",
        craft="",
