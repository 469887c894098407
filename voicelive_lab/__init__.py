"""voicelive-lab: learn the Azure AI Voice Live API in JupyterLab, offline first."""

__version__ = "0.1.0"
