"""Extension objects, created unbound and initialised in ``create_app``."""

from __future__ import annotations

from flask_babel import Babel
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from engine.models import Base

# The engine owns the models (plain SQLAlchemy); Flask-SQLAlchemy gives sessions per request
# and shares their metadata for create_all and migrations.
db = SQLAlchemy(metadata=Base.metadata)
migrate = Migrate()
csrf = CSRFProtect()
login_manager = LoginManager()
babel = Babel()
