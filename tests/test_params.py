"""The corpus audit form's Params: one definition, fresh objects, overridable defaults."""

from assay.params import corpus_audit_params


def test_every_param_is_documented_and_typed():
    for name, param in corpus_audit_params().items():
        assert param.schema.get("title"), name
        assert param.description, name
        assert param.schema.get("type"), name


def test_subsets_and_defaults_do_not_touch_the_shared_definition():
    scheduled = corpus_audit_params(
        only=("corpus", "incremental"), corpus="s3://c/", incremental=True
    )
    assert list(scheduled) == ["corpus", "incremental"]
    assert scheduled["corpus"].value == "s3://c/" and scheduled["incremental"].value is True
    assert scheduled["corpus"].schema["minLength"] == 1
    fresh = corpus_audit_params()
    assert fresh["incremental"].value is False
    assert fresh["corpus"] is not corpus_audit_params()["corpus"]
