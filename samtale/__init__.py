"""samtale: a self-hosted conversation engine for web-shop customer-service chatbots."""

__version__ = "0.1.0"
