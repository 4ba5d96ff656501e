# Attack stage, one flow for every method: craft once per attack (STAA-Net: once per generator,
# here; baselines: once per threat model, rules/baselines.smk), then score the stored adversarials
# on every victim of the dataset (white-box + transfer) with one scoring rule and one code path.


rule craft_staa:
    """Apply a generator to the test split once: adversarials, hard masks, seconds per utterance, examples."""
    input:
        "results/data/{dataset}/classes.json",
        "results/data/{dataset}/test.npy",
        generator="results/generators/{dataset}/{threat}/{variant}/seed{seed}/generator.pt",
        threat=lambda wc: victim_model(wc.dataset, wc.threat, wc.seed),
    output:
        adv="results/attacks/{dataset}/staa/{threat}/{variant}/seed{seed}/adversarial.npy",
        mask="results/attacks/{dataset}/staa/{threat}/{variant}/seed{seed}/mask.npy",
        alog="results/attacks/{dataset}/staa/{threat}/{variant}/seed{seed}/attack_log.csv",
        craft="results/attacks/{dataset}/staa/{threat}/{variant}/seed{seed}/craft.json",
        examples=example_files("results/attacks/{dataset}/staa/{threat}/{variant}/seed{seed}"),
    log:
        "results/logs/craft_staa/{dataset}/{threat}/{variant}/seed{seed}.log",
    benchmark:
        "results/benchmarks/craft_staa/{dataset}/{threat}/{variant}/seed{seed}.tsv"
    conda:
        "../envs/staa.yaml"
    threads: job_threads()
    resources:
        gpu=0,
    params:
        p=craft_params,
        # the folder of the declared listening examples
        examples_dir=lambda wc, output: str(Path(output.adv).parent / "examples"),
    shell:
        staa_cli(
            "craft-staa --data-dir results/data/{wildcards.dataset:q} --generator {input.generator:q} "
            "--threat-model {input.threat:q} --adversarial {output.adv:q} --mask {output.mask:q} "
            "--attack-log {output.alog:q} --craft {output.craft:q} --examples-dir {params.examples_dir:q} "
            "--params {params.p:q} --threads {threads} --gpus {resources.gpu} > {log:q} 2>&1"
        )


rule score_staa:
    """Score stored adversarials on one victim (white-box if it is the threat model): every attack's scoring."""
    input:
        unpack(staa_score_inputs),
    output:
        metrics="results/attacks/{dataset}/staa/{threat}/{variant}/seed{seed}/on_{victim}/metrics.json",
        per_utt="results/attacks/{dataset}/staa/{threat}/{variant}/seed{seed}/on_{victim}/per_utterance.csv",
    log:
        "results/logs/score_staa/{dataset}/{threat}/{variant}/seed{seed}/on_{victim}.log",
    benchmark:
        "results/benchmarks/score_staa/{dataset}/{threat}/{variant}/seed{seed}/on_{victim}.tsv"
    conda:
        "../envs/staa.yaml"
    threads: job_threads()
    resources:
        gpu=0,
    params:
        p=staa_score_params,
        # what an attack or a dataset does not have is passed as '' (none)
        subset=lambda wc, input: input.subset if "subset" in input.keys() else "",
        mask=lambda wc, input: input.mask if "mask" in input.keys() else "",
        craft=lambda wc, input: input.craft if "craft" in input.keys() else "",
    shell:
        staa_cli(
            "score --data-dir results/data/{wildcards.dataset:q} --adversarial {input.adv:q} "
            "--attack-log {input.alog:q} --mask {params.mask:q} --craft {params.craft:q} --subset {params.subset:q} "
            "--victim-model {input.victim:q} --metrics {output.metrics:q} --per-utterance {output.per_utt:q} "
            "--params {params.p:q} --threads {threads} --gpus {resources.gpu} > {log:q} 2>&1"
        )
