"""Hand-designed networks expressed in the search space, for comparisons."""

from search.space import ArchConfig

# MLPerf Tiny image classification reference: a 16-channel stem, three stages of one basic block
# (16, 32, 64 channels), the last two downsampling; ~78 k parameters on CIFAR-10.
RESNET8 = ArchConfig(
    out_channel0=16,
    M=3,
    R=(1, 1, 1),
    B=(1, 1, 1),
    convblock=("A", "A", "A"),
    widenfact=(1.0, 2.0, 2.0),
)
# He et al. 2016, CIFAR variants: three stages of 3 (ResNet-20) or 5 (ResNet-32) basic blocks.
RESNET20 = RESNET8.model_copy(update={"R": (3, 3, 3)})
RESNET32 = RESNET8.model_copy(update={"R": (5, 5, 5)})

BASELINES = {"resnet8": RESNET8, "resnet20": RESNET20, "resnet32": RESNET32}
