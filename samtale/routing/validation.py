"""Whole-document checks of a chatbot's routing config: defined with the chatbot schema in
:mod:`samtale.chatbots.routing_validation` (importing a chatbot runs them), re-exported here."""

from samtale.chatbots.routing_validation import (
    CLASSIFIER_FLOW_TYPES,
    classifier_template,
    routable_flows,
    route_keys,
    validate_routing,
)

__all__ = ["CLASSIFIER_FLOW_TYPES", "classifier_template", "routable_flows", "route_keys", "validate_routing"]
