"""Data: built-in sources, seeded splits and the semi-supervised LightningDataModule."""
from .datamodule import ImageTensorDataset, SemiSupervisedDataModule
from .sources import ImageSource, load_source
from .splits import Split, labeled_subset, stratified_holdout

__all__ = ["ImageSource", "ImageTensorDataset", "SemiSupervisedDataModule", "Split",
           "labeled_subset", "load_source", "stratified_holdout"]
