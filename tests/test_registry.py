from __future__ import annotations

import sys

import pytest

from benchmarks.registry import (
    BENCHMARKS,
    BUILTIN_SUITES,
    PUBLIC_BENCHMARKS,
    SUITES,
    Registry,
    UnknownNameError,
)


class TestRegistry:
    def test_register_and_get(self) -> None:
        reg: Registry[int] = Registry("number")
        reg.register("one", 1)
        assert reg.get("one") == 1
        assert "one" in reg and len(reg) == 1 and reg.names() == ["one"]

    def test_decorator(self) -> None:
        reg: Registry[type] = Registry("class")

        @reg.register("thing")
        class Thing:
            pass

        assert reg.get("thing") is Thing

    def test_lazy_target_imported_on_first_get(self) -> None:
        reg: Registry[object] = Registry("function")
        reg.register("dumps", "json:dumps")
        import json

        assert reg.get("dumps") is json.dumps

    def test_lazy_listing_imports_nothing(self) -> None:
        reg: Registry[object] = Registry("module attr")
        reg.register("x", "srcal_surely_not_a_module:thing")
        assert reg.names() == ["x"]
        assert "srcal_surely_not_a_module" not in sys.modules
        with pytest.raises(ModuleNotFoundError):
            reg.get("x")

    def test_unknown_name_suggests_close_matches(self) -> None:
        reg: Registry[int] = Registry("benchmark")
        reg.register("chartqa", 1)
        reg.register("mmstar", 2)
        with pytest.raises(UnknownNameError) as info:
            reg.get("chartqaa")
        assert "did you mean 'chartqa'" in str(info.value)
        assert "unknown benchmark 'chartqaa'" in str(info.value)

    def test_conflicting_registration_is_an_error(self) -> None:
        reg: Registry[int] = Registry("number")
        reg.register("one", 1)
        reg.register("one", 1)  # same target: fine
        with pytest.raises(ValueError, match="already registered"):
            reg.register("one", 2)

    def test_bad_lazy_target(self) -> None:
        reg: Registry[object] = Registry("thing")
        reg.register("bad", "no_colon_here")
        with pytest.raises(ValueError, match="package.module:attr"):
            reg.get("bad")


class TestProjectRegistries:
    def test_every_builtin_suite_resolves(self) -> None:
        for name in BUILTIN_SUITES:
            suite = SUITES.get(name)
            assert suite.name == name
            assert BENCHMARKS.get(name).name == name

    def test_every_public_benchmark_resolves(self) -> None:
        for name in PUBLIC_BENCHMARKS:
            spec = BENCHMARKS.get(name)
            assert spec.name == name
            assert spec.dataset and spec.lmms_task and spec.category in ("qa", "reasoning", "hallucination")
