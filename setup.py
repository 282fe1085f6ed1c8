"""The one thing pyproject.toml cannot say: cctop's optional C extension.

``_linescan`` finds the lines a cold scan must read without a Python step per line (see
cctop/sources/transcripts/_linescan.c). ``optional=True``: where it cannot be built (no
compiler) the install goes on without it and fastjsonl's Python loop does the same work.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "cctop.sources.transcripts._linescan",
            ["cctop/sources/transcripts/_linescan.c"],
            optional=True,
        )
    ]
)
