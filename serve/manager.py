"""Manager: decides which versions are served, loads and swaps them, and hands out pinned handles.

Availability first, as TF Serving's default policy: a new version is loaded and warmed up while
the old one keeps serving; only once the new one is AVAILABLE is the old one retired, and a retired
version is unloaded only after the last request pinning it (through a `Handle`) lets go.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc
from liveri.serve.errors import ServingError, from_exception, invalid
from liveri.serve.loader import Servable
from liveri.serve.source import ModelSpec, aspired_versions
from tensorflow_serving.apis import get_model_status_pb2

log = logging.getLogger("liveri.serve")

State = get_model_status_pb2.ModelVersionStatus.State
_AVAILABLE = State.AVAILABLE  # each State.X is a lookup in protobuf's enum wrapper: hot paths
MAX_LOAD_ATTEMPTS = 3

LoadFn = Callable[[ModelSpec, int, str], Servable]


@dataclass
class VersionState:
    """Lifecycle of one version: START -> LOADING -> AVAILABLE -> UNLOADING -> END."""

    version: int
    path: str
    state: int = State.START
    error: ServingError | None = None
    servable: Servable | None = None
    refs: int = 0
    failures: int = 0
    retired: bool = False


@dataclass
class ModelState:
    spec: ModelSpec
    versions: dict[int, VersionState] = field(default_factory=dict)
    removed: bool = False
    labels: dict[str, int] = field(default_factory=dict)  # applied (`apply_labels`)

    def latest_available(self) -> VersionState | None:
        latest = None  # a plain loop: every request without a version asks this
        for state in self.versions.values():
            if state.state == _AVAILABLE and (latest is None or state.version > latest.version):
                latest = state
        return latest


class Handle:
    """Pins one loaded version for the duration of a request (`with manager.handle(...) as s:`)."""

    __slots__ = ("_manager", "_version", "servable")

    def __init__(self, manager: ServableManager, version: VersionState) -> None:
        self._manager = manager
        self._version = version
        self.servable: Servable = version.servable  # type: ignore[assignment]

    def __enter__(self) -> Servable:
        return self.servable

    def __exit__(self, *exc: object) -> None:
        self._manager._release(self._version)


class ServableManager:
    """Holds every model's versions; `reconcile()` moves them toward what the source aspires."""

    def __init__(self, load: LoadFn,
                 on_availability: Callable[[str, bool], None] | None = None) -> None:
        self._load = load
        self._on_availability = on_availability or (lambda name, available: None)
        self._lock = threading.Lock()
        self._reconcile_lock = threading.Lock()
        self._models: dict[str, ModelState] = {}

    # -- what should be served ------------------------------------------------------------------

    def set_specs(self, specs: list[ModelSpec]) -> None:
        """Serve exactly these models from now on (takes effect at the next `reconcile`)."""
        names = {s.name for s in specs}
        with self._lock:
            for spec in specs:
                model = self._models.get(spec.name)
                if model is None or model.removed:
                    self._models[spec.name] = ModelState(spec)
                else:
                    model.spec = spec
            for name, model in self._models.items():
                if name not in names:
                    model.removed = True

    def reconcile(self) -> None:
        """Load aspired versions that are missing, then retire those no longer aspired."""
        with self._reconcile_lock:
            with self._lock:
                models = list(self._models.values())
            for model in models:
                aspired = {} if model.removed else aspired_versions(model.spec)
                for version, path in sorted(aspired.items()):
                    self._maybe_load(model, version, path)
                self._retire_unaspired(model, aspired)
            with self._lock:
                for name in [n for n, m in self._models.items()
                             if m.removed and all(v.state == State.END for v in m.versions.values())]:
                    del self._models[name]

    def _maybe_load(self, model: ModelState, version: int, path: str) -> None:
        with self._lock:
            state = model.versions.get(version)
            if state is not None and (
                state.state in (State.AVAILABLE, State.LOADING, State.UNLOADING)
                or (state.error is not None and state.failures >= MAX_LOAD_ATTEMPTS)
            ):
                return
            state = VersionState(version, path, State.LOADING,
                                 failures=state.failures if state else 0)
            model.versions[version] = state
        try:
            servable = self._load(model.spec, version, path)
        except Exception as exc:  # a bad model must not take the server down
            log.error("Loading %s version %d from %s failed: %s", model.spec.name, version, path, exc)
            with self._lock:
                state.failures += 1
                state.state = State.END
                state.error = from_exception(exc)
            return
        with self._lock:
            state.servable = servable
            state.state = State.AVAILABLE
            state.error = None
        log.info("Serving %s version %d (loaded in %.2fs)", model.spec.name, version,
                 servable.load_seconds)
        self._on_availability(model.spec.name, True)

    def _retire_unaspired(self, model: ModelState, aspired: dict[int, str]) -> None:
        to_unload = []
        with self._lock:
            any_aspired_ready = any(
                v.state == State.AVAILABLE for n, v in model.versions.items() if n in aspired
            )
            for number, state in model.versions.items():
                if number in aspired or state.state != State.AVAILABLE:
                    continue
                if aspired and not any_aspired_ready:
                    continue  # keep serving the old version until a new one is ready
                state.state = State.UNLOADING
                state.retired = True
                if state.refs == 0:
                    to_unload.append(state)
            still_available = model.latest_available() is not None
        for state in to_unload:
            self._finish_unload(state)
        if not still_available:
            self._on_availability(model.spec.name, False)

    def _finish_unload(self, state: VersionState) -> None:
        servable = state.servable
        with self._lock:
            state.servable = None
            state.state = State.END
        if servable is not None:
            servable.unload()
            log.info("Unloaded %s version %d", servable.name, servable.version)

    def unload_all(self) -> None:
        """Retire everything (server shutdown); versions in use unload when released."""
        with self._lock:
            for model in self._models.values():
                model.removed = True
        self.reconcile()

    def apply_labels(self, allow_unavailable: bool = False) -> None:
        """Point each model's version labels where its spec says, all or none, as TF Serving's
        ServerCore does after a config's versions load: a label may only name an available
        version, unless `allow_unavailable` (--allow_version_labels_for_unavailable_models)
        and the label is new. FAILED_PRECONDITION otherwise, the old labels kept."""
        with self._lock:
            new: dict[str, dict[str, int]] = {}
            for name, model in self._models.items():
                if model.removed:
                    continue
                for label, version in model.spec.version_labels.items():
                    state = model.versions.get(version)
                    moved = model.labels.get(label, version) != version
                    if (state is None or state.state != _AVAILABLE) and (
                            not allow_unavailable or moved):
                        raise ServingError(
                            grpc.StatusCode.FAILED_PRECONDITION,
                            f"Request to assign label to version {version} of model {name}, "
                            "which is not currently available for inference")
                    new.setdefault(name, {})[label] = version
            for name, model in self._models.items():
                model.labels = new.get(name, {})

    def label_version(self, name: str, label: str) -> int:
        """The version `label` names, or NOT_FOUND / INVALID_ARGUMENT as `handle` raises."""
        with self._lock:
            return _labelled_version(self._served(name), name, label)

    def _served(self, name: str) -> ModelState | None:
        """Model `name` unless it is unknown or removed (call with the lock held)."""
        model = self._models.get(name)
        return None if model is None or model.removed else model

    # -- requests -------------------------------------------------------------------------------

    def handle(self, name: str, version: int | None = None, label: str | None = None) -> Handle:
        """Pin the requested version (newest available by default) or raise NOT_FOUND."""
        with self._lock:
            model = self._served(name)
            if label:
                version = _labelled_version(model, name, label)
            if model is None:
                raise _not_found(name, version)
            if version is None:
                state = model.latest_available()
            else:
                state = model.versions.get(version)
                if state is not None and state.state != _AVAILABLE:
                    state = None
            if state is None:
                raise _not_found(name, version)
            state.refs += 1
        return Handle(self, state)

    def _release(self, state: VersionState) -> None:
        with self._lock:
            state.refs -= 1
            done = state.retired and state.refs == 0 and state.state == State.UNLOADING
        if done:
            self._finish_unload(state)

    # -- status ---------------------------------------------------------------------------------

    def model_names(self) -> list[str]:
        with self._lock:
            return sorted(n for n, m in self._models.items() if not m.removed)

    def is_available(self, name: str) -> bool:
        with self._lock:
            model = self._models.get(name)
            return model is not None and not model.removed and model.latest_available() is not None

    def version_states(self, name: str, version: int | None = None) -> list[VersionState]:
        """Snapshots of a model's versions (newest first), or NOT_FOUND as TF Serving words it."""
        with self._lock:
            model = self._models.get(name)
            if model is None or model.removed or not model.versions:
                raise ServingError(grpc.StatusCode.NOT_FOUND,
                                   f"Could not find any versions of model {name}")
            states = sorted(model.versions.values(), key=lambda v: -v.version)
            if version is not None:
                states = [s for s in states if s.version == version]
                if not states:
                    raise ServingError(grpc.StatusCode.NOT_FOUND,
                                       f"Could not find version {version} of model {name}")
            return [VersionState(s.version, s.path, s.state, s.error) for s in states]

    def loaded_servables(self) -> list[Servable]:
        with self._lock:
            return [v.servable for m in self._models.values() for v in m.versions.values()
                    if v.servable is not None]


def _labelled_version(model: ModelState | None, name: str, label: str) -> int:
    """The version `label` names in `model` (None: no such model, NOT_FOUND)."""
    if model is None:
        raise _not_found(name, label)
    version = model.labels.get(label)
    if version is None:
        raise invalid(f"Unrecognized servable version label: {label}")
    return version


def _not_found(name: str, version: int | str | None) -> ServingError:
    """TF Serving's words, which clients and scripts match on."""
    request = f"Latest({name})" if version is None else f"Specific({name}, {version})"
    return ServingError(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: {request}")
