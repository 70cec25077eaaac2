"""Creates an empty, fully migrated MLflow SQLite database (tracking and
registry tables), so test servers start without running migrations."""

import sys
import tempfile

from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as RegistryStore
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as TrackingStore

uri = f"sqlite:///{sys.argv[1]}"
TrackingStore(uri, tempfile.mkdtemp())
RegistryStore(uri)
print(f"wrote {sys.argv[1]}")
