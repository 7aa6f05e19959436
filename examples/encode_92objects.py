"""Fit voxelwise encoders to simulated responses to the 92-object images.

The 92 object images of Kriegeskorte et al. (2008) are real stimuli with category
labels (face, body, animate, natural/artificial object). The simulator plants
category-selective and early-visual units on them; we fit a Gabor-feature encoder
per subject and print held-out accuracy per ROI against the noise ceiling.

    python examples/encode_92objects.py [--images PATH] [--out FIGURE.png]

Without --images the set comes from neurotoolkit.data.load_92objects(): copied from a
local mirror named by NEUROTOOLKIT_DATA_MIRROR, or downloaded once (3 MB) into
~/neurotoolkit_data (NEUROTOOLKIT_DATA).
"""

import argparse

import neurotoolkit as nt


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default=None, help="folder with imgNN.png and categories.csv")
    parser.add_argument("--out", default=None, help="save the ROI score figure here (PNG)")
    args = parser.parse_args(argv)

    if args.images:
        stimuli = nt.data.StimulusSet.from_folder(args.images)
    else:
        stimuli = nt.data.load_92objects().stimuli
    sim = nt.simulation.simulate_recordings(stimuli=stimuli, n_subjects=2, n_repeats_train=2,
                                      n_repeats_test=4, random_state=0)
    gabor = nt.features.GaborPyramid(image_size=64)
    space = nt.features.FeatureSpace(gabor.transform(stimuli), stimuli.ids, name="gabor")
    for rec in sim.recordings:
        train, test = rec.split(test_ids=rec.meta["test_ids"])
        enc = nt.encoding.VoxelwiseEncoder(features=space).fit(train)
        scores = enc.evaluate(test)
        summary = nt.analysis.roi_summary(scores, columns=["r", "noise_ceiling_r"], quantiles=(0.5,))
        print(f"\n{rec.subject}: {train.n_trials} training trials, {test.n_trials} test trials")
        print(summary.round(3).to_string(index=False))
    if args.out:
        fig = enc.plot_scores(title=f"{rec.subject}: held-out r on the 92 objects")
        fig.savefig(args.out, dpi=120)
        print(f"figure: {args.out}")
    return scores


if __name__ == "__main__":
    main()
