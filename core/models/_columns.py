"""Column shorthands shared by the models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import mapped_column

from ..timeutil import utcnow

str_id = Annotated[str, mapped_column(String(64), primary_key=True)]
created_at = Annotated[datetime, mapped_column(default=utcnow, index=True)]
updated_at = Annotated[datetime, mapped_column(default=utcnow, onupdate=utcnow)]
workspace_fk = Annotated[str, mapped_column(String(64), ForeignKey("workspaces.id"), index=True)]
