"""Where the rest of the project imports the ImageBuild provider from.

The provider lives in `components/imagebuild/` (one job per module, see its `__init__`);
this name is kept for the importers outside it (components/image_build.py, the workflow
template tests).
"""

from components.imagebuild.provider import (
    DEFAULT_INPUTS,
    PROVIDER_VERSION,
    ImageBuildProvider,
    PollPolicy,
)

__all__ = ["DEFAULT_INPUTS", "PROVIDER_VERSION", "ImageBuildProvider", "PollPolicy"]
