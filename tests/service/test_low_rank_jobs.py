"""Jobs with the rank dimension and a random-feature head, through the API; their 422s."""

import io
import zipfile

import pytest

from search.space import RANK_FRACTIONS, ArchConfig, SearchSpace
from service.schemas import JobCreate
from tests.service.local_service import local_service

JOB = {
    "task": "digits",
    "hardware": {"preset": "pcm", "tile_rows": 256, "tile_cols": 256, "max_tiles": 64},
    "objectives": ["accuracy_1d", "tiles"],
    "budget": {
        "trials": 60,
        "top_k": 1,
        "train_epochs": 1,
        "mc_samples": 2,
        "post_training": False,
    },
    "seed": 0,
}


@pytest.fixture
def service(tmp_path):
    with local_service(tmp_path) as client:
        yield client


def test_the_options_choose_the_space():
    assert JobCreate.model_validate(JOB).search_space() == SearchSpace.tiny()
    ranked = JobCreate.model_validate({**JOB, "low_rank": True}).search_space()
    assert ranked.rank_wide == ranked.rank_classifier == RANK_FRACTIONS
    headed = JobCreate.model_validate(
        {**JOB, "low_rank": True, "head": "random_features", "head_features": 64}
    ).search_space()
    assert headed.head_features == 64 and headed.rank_classifier == (1.0,)
    assert headed.rank_wide == RANK_FRACTIONS


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"low_rank": "sometimes"}, "low_rank"),
        ({"head": "kernel"}, "head"),
        ({"head": "random_features", "head_features": 4}, "head_features"),
        ({"head_features": "many"}, "head_features"),
        ({"head": "random_features", "budget": {"training": "analog"}}, "head"),
    ],
)
def test_bad_options_are_422s_naming_the_field(service, change, field):
    response = service.post("/v1/jobs", json={**JOB, **change})
    assert response.status_code == 422
    assert any(field in [str(part) for part in error["loc"]] for error in response.json()["detail"])


def test_a_random_feature_head_job_with_the_rank_dimension_is_verified_and_exported(service):
    body = {**JOB, "low_rank": True, "head": "random_features", "head_features": 64}
    job = service.post("/v1/jobs", json=body).json()
    assert service.runner.run_once() is True
    done = service.get(f"/v1/jobs/{job['id']}").json()
    assert done["status"] == "succeeded", done
    assert done["request"]["head"] == "random_features" and done["request"]["low_rank"]
    candidates = service.get(f"/v1/jobs/{job['id']}/candidates").json()
    (verified,) = [c for c in candidates if c["verified"]]
    assert 0 <= verified["accuracy_1d"] <= 1 and verified["tiles"] <= 64
    arch_id = verified["architecture_id"]
    arch = ArchConfig.model_validate(
        service.get(f"/v1/architectures/{arch_id}").json()["architecture"]
    )
    assert arch.head_features == 64 and arch.rank_wide in RANK_FRACTIONS
    url = f"/v1/architectures/{arch_id}/export"
    bundle = service.get(url, params={"format": "analog"})
    names = zipfile.ZipFile(io.BytesIO(bundle.content)).namelist()
    assert bundle.status_code == 200 and "manifest.json" in names
    factorised = service.get(url, params={"format": "json", "rank_wide": 0.25, "factors": "exact"})
    if arch.rank_wide == 1.0:  # a dense widest block: factorised at export
        assert factorised.status_code == 200 and factorised.json()["factorisation"]["layers"]
    else:
        assert factorised.status_code == 422 and "rank_wide" in factorised.json()["detail"]
    for params, field in (
        ({"rank_wide": 1.5}, "rank_wide"),
        ({"rank_classifier": 0}, "rank_classifier"),
        ({"factors": "quantum"}, "factors"),
    ):
        refused = service.get(url, params={"format": "onnx", **params})
        assert refused.status_code == 422
        assert any(field in error["loc"] for error in refused.json()["detail"])
    head = service.get(url, params={"format": "onnx", "rank_classifier": 0.5})
    assert head.status_code == 422 and "rank_classifier" in head.json()["detail"]


def test_the_terminal_search_and_collection_take_the_rank_dimension():
    from service.cli import _space

    assert _space("tiny", low_rank=True) == SearchSpace.tiny().with_ranks()
    assert _space("full") == SearchSpace()
