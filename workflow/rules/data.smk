# Data stage: (synthesise) corpus -> fixed-length arrays per split + split tables + dataset card.


rule synth_corpus:
    """Generate the procedural emotional-speech corpus (WAV files + metadata.csv) for a synthetic dataset."""
    output:
        "results/corpora/{dataset}/metadata.csv",
    log:
        "results/logs/synth_corpus/{dataset}.log",
    benchmark:
        "results/benchmarks/synth_corpus/{dataset}.tsv"
    conda:
        "../envs/staa.yaml"
    params:
        p=synth_params,
    shell:
        staa_cli("synth-corpus --out results/corpora/{wildcards.dataset:q} --params {params.p:q} > {log:q} 2>&1")


rule prepare_data:
    """Read a corpus, split it speaker-independently, write (N, L) float32 arrays, tables and a card."""
    input:
        data_input,
    output:
        multiext("results/data/{dataset}/train", ".npy", ".csv"),
        multiext("results/data/{dataset}/dev", ".npy", ".csv"),
        multiext("results/data/{dataset}/test", ".npy", ".csv"),
        classes="results/data/{dataset}/classes.json",
        card="results/data/{dataset}/card.md",
    log:
        "results/logs/prepare_data/{dataset}.log",
    benchmark:
        "results/benchmarks/prepare_data/{dataset}.tsv"
    conda:
        "../envs/staa.yaml"
    params:
        p=data_params,
        # the dataset's folder: its arrays, tables, classes.json and card.md (each declared above)
        out_dir=lambda wc, output: str(Path(output.classes).parent),
    shell:
        staa_cli(
            "prepare-data --dataset {wildcards.dataset:q} --out-dir {params.out_dir:q} "
            "--params {params.p:q} > {log:q} 2>&1"
        )
