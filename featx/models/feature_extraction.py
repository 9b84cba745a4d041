"""Alias of :mod:`featx.feature_extraction`, so torchvision's import path
``from ...models.feature_extraction import create_feature_extractor`` works
unchanged."""
from ..feature_extraction import (GraphNodeInfo, create_feature_extractor,
                                  get_graph_node_info, get_graph_node_names)

__all__ = ["create_feature_extractor", "get_graph_node_names",
           "get_graph_node_info", "GraphNodeInfo"]
