"""The cluster map tab: the point cloud, its overlays (hover card, legend, selection) and view."""
