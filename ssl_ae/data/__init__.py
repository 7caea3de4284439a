"""Data: built-in and custom sources, seeded splits and the semi-supervised LightningDataModule."""
from .datamodule import ImageTensorDataset, SemiSupervisedDataModule
from .folders import load_folder
from .pydataset import load_dataset
from .sources import ImageSource, load_source
from .splits import Split, labeled_subset, stratified_holdout

__all__ = ["ImageSource", "ImageTensorDataset", "SemiSupervisedDataModule", "Split",
           "labeled_subset", "load_dataset", "load_folder", "load_source", "stratified_holdout"]
