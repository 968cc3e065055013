"""`torchclassify datasets`: list the built-in datasets."""


def register(sub) -> None:
    sub.add_parser("datasets", help="list the built-in datasets (name, task, rows, features)")


def execute(args) -> int:
    from ..data.sources import list_datasets

    print(list_datasets().to_string(index=False))
    return 0
