"""Training data: HumanData files, the dataset catalog and mixtures, bespoke loaders, deterministic
multi-dataset sampling, augmentation and the training Dataset (official SMPLer-X / SMPLest-X
semantics).

Typical use::

    from ehps.data import (MultiDatasetSampler, TrainingDataset, build_sources, collate_samples,
                           get_preset)
    preset = get_preset("smplerx_top32")
    sources = build_sources(preset, data_root)
    dataset = TrainingDataset(sources, system=preset.system, body_model=smplx_layer)
    sampler = MultiDatasetSampler(dataset.lengths, preset.strategy, preset.total_data_len,
                                  seed=0, rank=rank, world_size=world)
    loader = DataLoader(dataset, batch_size=32, sampler=sampler, num_workers=2,
                        collate_fn=collate_samples, drop_last=True)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        ...
"""

from __future__ import annotations

from ehps.data.catalog import (
    DatasetSpec,
    MixturePreset,
    find_data_root,
    get_dataset_spec,
    get_preset,
    list_datasets,
    list_presets,
    register_dataset,
    register_preset,
)
from ehps.data.collate import collate_samples
from ehps.data.crop_cache import CachedSource, build_crop_cache
from ehps.data.datasets import build_source, build_sources
from ehps.data.humandata import HumanData
from ehps.data.humandata_writer import (
    flatten_humandata,
    keypoints_to_human_data,
    write_humandata,
)
from ehps.data.sampling import MultiDatasetSampler, SampleKey
from ehps.data.training_dataset import TrainingDataset
from ehps.data.transforms import AugParams, sample_aug_params
from ehps.data.types import Annotation, Batch, FitParams, Sample

__all__ = [
    "Annotation",
    "AugParams",
    "Batch",
    "CachedSource",
    "DatasetSpec",
    "FitParams",
    "HumanData",
    "MixturePreset",
    "MultiDatasetSampler",
    "Sample",
    "SampleKey",
    "TrainingDataset",
    "build_crop_cache",
    "build_source",
    "build_sources",
    "collate_samples",
    "find_data_root",
    "flatten_humandata",
    "get_dataset_spec",
    "get_preset",
    "keypoints_to_human_data",
    "list_datasets",
    "list_presets",
    "register_dataset",
    "register_preset",
    "sample_aug_params",
    "write_humandata",
]
