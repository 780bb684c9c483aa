CREATE DATABASE IF NOT EXISTS shop;
CREATE USER IF NOT EXISTS 'web'@'%' IDENTIFIED BY 'web-secret';
GRANT SELECT ON shop.* TO 'web'@'%';
USE shop;
CREATE TABLE IF NOT EXISTS items (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL);
INSERT IGNORE INTO items VALUES (1, 'anchor'), (2, 'rope'), (3, 'lantern');
