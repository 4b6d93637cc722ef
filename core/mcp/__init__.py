"""MCP tools run by the service: servers operators register (`config`), the connections to
them (`client`), and the tool loop a turn runs through them (`loop`); core/mcp_items.py holds
the domain values the pipeline, the types and the contract share."""
