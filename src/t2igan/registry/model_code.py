"""MLflow "models from code" entry point: the registered model is built from this file, not unpickled.

Loading a registered version therefore runs reviewed source (shipped in the model's code/ directory), never
a cloudpickle blob.
"""

from mlflow.models import set_model

from t2igan.registry.pyfunc import TextToImageModel

set_model(TextToImageModel())
