# Attack stage: every STAA-Net generator against every victim of its dataset (white-box + transfer).


rule attack_staa:
    """Apply a generator to the test split (one forward pass per utterance) and score it on a victim."""
    input:
        unpack(staa_attack_inputs),
    output:
        metrics="results/attacks/{dataset}/staa/{threat}/{variant}/seed{seed}/on_{victim}/metrics.json",
        per_utt="results/attacks/{dataset}/staa/{threat}/{variant}/seed{seed}/on_{victim}/per_utterance.csv",
    params:
        p=staa_attack_params,
        subset=lambda wc, input: input.subset if "subset" in input.keys() else "",
    threads: job_threads()
    resources:
        gpu=0,
    log:
        "results/logs/attack_staa/{dataset}/{threat}/{variant}/seed{seed}/on_{victim}.log",
    benchmark:
        "results/benchmarks/attack_staa/{dataset}/{threat}/{variant}/seed{seed}/on_{victim}.tsv"
    conda:
        "../envs/staa.yaml"
    shell:
        "staa attack-staa --data-dir results/data/{wildcards.dataset:q} --generator {input.generator:q} "
        "--victim-model {input.victim:q} --subset {params.subset:q} "
        "--out-dir results/attacks/{wildcards.dataset:q}/staa/{wildcards.threat:q}/{wildcards.variant:q}/seed{wildcards.seed:q}/on_{wildcards.victim:q} "
        "--params {params.p:q} --threads {threads} --gpus {resources.gpu} > {log:q} 2>&1"
