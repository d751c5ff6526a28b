"""Routing configuration of a chatbot: defined with the chatbot schema in
:mod:`samtale.chatbots.routing_config` (the schema embeds it), re-exported here for routing's callers."""

from samtale.chatbots.routing_config import KeywordRule, RoutingConfig, StrategyName

__all__ = ["KeywordRule", "RoutingConfig", "StrategyName"]
