"""The one thing pyproject.toml cannot say: cctop's optional C extension.

``_linescan`` finds the lines a cold scan must read without a Python step per line, and
``_isotime`` reads their timestamps (see cctop/sources/transcripts/*.c). ``optional=True``:
where they cannot be built (no compiler) the install goes on without them and fastjsonl's
Python code does the same work.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "cctop.sources.transcripts._linescan",
            ["cctop/sources/transcripts/_linescan.c"],
            optional=True,
        ),
        Extension(
            "cctop.sources.transcripts._isotime",
            ["cctop/sources/transcripts/_isotime.c"],
            optional=True,
        ),
    ]
)
