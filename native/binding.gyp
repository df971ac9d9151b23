{
  "targets": [
    {
      "target_name": "sockopt",
      "sources": ["sockopt.c"]
    }
  ]
}
